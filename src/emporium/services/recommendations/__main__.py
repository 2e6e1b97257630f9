from emporium.services.recommendations.main import main

main()
