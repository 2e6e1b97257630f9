from emporium.services.shipping.main import main

main()
