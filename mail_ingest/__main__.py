from mail_ingest.cli import main

main()
