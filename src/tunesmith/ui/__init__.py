"""`tunesmith ui`: a local web app over the library (data report, run builder with live curves, chat).

The server is a small FastAPI app (app.py) with one router per tab; the front end is plain HTML,
CSS and ES modules under static/ (no build step). Every action calls the same library function
as the matching CLI command, and the page shows that command so it can be copied.
"""
