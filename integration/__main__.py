from integration.cli import main

main()
