from emporium.services.storefront.main import main

main()
