"""`python -m bulkdel`."""

from bulkdel.cli import main

main()
