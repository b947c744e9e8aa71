# The app on Azure's own Functions host and Python worker: the base image Azure publishes for
# Python 3.11 function apps. Used by compose.yaml (`docker compose up`), no Core Tools needed.
# No setting and no key is baked in: compose passes them when the container starts.
FROM mcr.microsoft.com/azure-functions/python:4-python3.11

ENV AzureWebJobsScriptRoot=/home/site/wwwroot \
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# What Azure installs, and nothing else; its own layer, so a code change rebuilds in seconds.
COPY requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt

COPY . /home/site/wwwroot
WORKDIR /home/site/wwwroot
