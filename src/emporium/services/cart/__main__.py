from emporium.services.cart.main import main

main()
