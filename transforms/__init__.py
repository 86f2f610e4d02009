"""Pure DataFrame -> DataFrame stages of the re-rating: validate, features, score, limits, diff."""
