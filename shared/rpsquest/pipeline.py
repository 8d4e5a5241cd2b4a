"""What the pipeline functions (train, promote) work with: settings, the gameplay store, the
model store and the hyperparameter configs, opened once per instance."""

from __future__ import annotations

from typing import Self

from sqlalchemy import Engine

from rpsquest.config import Settings
from rpsquest.models import ModelConfigs, load_configs
from rpsquest.modelstore import ModelStore, open_store
from rpsquest.store.database import migrate, open_engine


class PipelineFunction:
    def __init__(
        self, settings: Settings, database: Engine, store: ModelStore, configs: ModelConfigs
    ) -> None:
        self.settings = settings
        self.database = database
        self.store = store
        self.configs = configs

    @classmethod
    def open(cls, settings: Settings) -> Self:
        database = open_engine(settings.database_url)
        migrate(database)
        return cls(
            settings,
            database,
            open_store(settings.model_store),
            load_configs(settings.model_configs),
        )
