from services.cli.commandes import main

main()
