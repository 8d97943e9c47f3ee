from ops_console.app import SERVICE, create_app
from ops_console.settings import Settings
from platform_kit.serve import serve

if __name__ == "__main__":
    settings = Settings()
    serve(SERVICE, create_app(settings), settings)
