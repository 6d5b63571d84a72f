"""Settings of the Django site the tests run against (configured by tests/django/conftest.py).

DFLOCK here is a base: an autouse fixture points SERVERS at the test server and
gives every test a KEY_PREFIX of its own.
"""

SECRET_KEY = "dflock-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "dflock_integrations.django",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "dflock_integrations.django.middleware.DflockMiddleware",
]

ROOT_URLCONF = "dflock_testsite.urls"

# Fast hashing: the admin tests create users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DFLOCK = {
    "RULES": [
        {
            "path": "/mw/orders/{order_id}/",
            "key": "order:{order_id}",
            "methods": ["POST"],
            "acquire_timeout_s": 0,
        },
        {
            "path": "/mw/aorders/{order_id}/",
            "key": "order:{order_id}",
            "methods": ["POST"],
            "acquire_timeout_s": 0,
        },
        {"path": "/mw/reports/{name}/", "key": "reports", "limit": 2, "acquire_timeout_s": 0},
        # GET shares, other methods exclude.
        {
            "path": "/mw/pages/{name}/",
            "key": "page:{name}",
            "max_shared": 3,
            "acquire_timeout_s": 0,
        },
        {"path": "/mw/quota/{name}/", "key": "mwquota:{name}", "rate": "2/m"},
    ],
}
