from platform_kit.serve import serve
from qb_sync.app import SERVICE, create_app
from qb_sync.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(SERVICE, create_app(settings), settings)
