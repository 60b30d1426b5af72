from bhrdigest.cli.main import main

main()
