# The unmanaged admin-link model: a migration that creates no table, shipped so
# that `makemigrations` in a project never writes one into this package.
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Status",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "verbose_name": "lock server status",
                "verbose_name_plural": "lock server status",
                "managed": False,
                "default_permissions": (),
            },
        ),
    ]
