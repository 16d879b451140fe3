"""Benchmarks: rest_ext side by side with rest_cherrypy and rest_tornado.

Run ``python benchmarks/run.py [--quick] [--out DIR]``; see ``run.py``.
"""
