from emporium.services.orders.main import main

main()
