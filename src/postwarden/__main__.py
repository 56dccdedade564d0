from postwarden.cli.main import main

raise SystemExit(main())
