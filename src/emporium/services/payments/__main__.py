from emporium.services.payments.main import main

main()
