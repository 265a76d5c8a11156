from precache.cli.main import app

app()
