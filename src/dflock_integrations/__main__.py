from dflock_integrations.cli import main

main()
