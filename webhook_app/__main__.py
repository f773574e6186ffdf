from webhook_app.cli import main

main()
