from emporium.services.catalog.main import main

main()
