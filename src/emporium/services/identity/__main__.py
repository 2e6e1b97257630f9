from emporium.services.identity.main import main

main()
