from emporium.services.gateway.main import main

main()
