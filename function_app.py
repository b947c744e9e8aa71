"""Composition root: one Functions app, one blueprint per service.

Importing this module only defines functions: no settings are parsed, no client is
built and no I/O happens, so the host always indexes every function.
"""

import azure.functions as func

from generator.bindings import blueprint as generator
from summariser.bindings import blueprint as summariser
from visualiser.bindings import blueprint as visualiser

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(generator)
app.register_functions(summariser)
app.register_functions(visualiser)
