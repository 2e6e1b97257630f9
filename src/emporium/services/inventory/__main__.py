from emporium.services.inventory.main import main

main()
