"""One module per `rerate` subcommand: each reads, calls the transforms and the checks, writes."""
