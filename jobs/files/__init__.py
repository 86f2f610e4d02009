"""Where things are (the contract's layout), the file systems they are on, reading the ledgers."""
