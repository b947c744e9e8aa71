"""Composition root: one Functions app, one blueprint per service, the web app they serve.

Importing this module only defines functions: no settings are parsed, no client is
built and no I/O happens, so the host always indexes every function.
"""

from typing import Any

import azure.functions as func

from generator.bindings import generator_functions
from pipeline import functions_http
from summariser.bindings import summariser_functions
from visualiser.bindings import visualiser_functions


def _web_app() -> Any:
    # FastAPI is slow to import: pay for it on the first request, not at
    # `import function_app`, so timers and triggers start fast.
    from web_app import create_web_app

    return create_web_app()


app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(generator_functions)
app.register_functions(summariser_functions)
app.register_functions(visualiser_functions)
functions_http.use_web_app(_web_app)
