from emporium.services.notifications.main import main

main()
