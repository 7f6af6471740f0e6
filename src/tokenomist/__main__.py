from tokenomist.cli import app

app()
