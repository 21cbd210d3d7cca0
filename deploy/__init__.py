"""Running Event Orders as several processes behind a reverse proxy: `make serve`, and a server's configuration."""
