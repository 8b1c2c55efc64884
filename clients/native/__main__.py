from clients.native.cli import main

main()
