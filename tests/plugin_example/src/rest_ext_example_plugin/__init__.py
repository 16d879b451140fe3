"""An example third-party plugin for salt-ext-rest."""
