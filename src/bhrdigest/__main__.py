from bhrdigest.cli import main

main()
