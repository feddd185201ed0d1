"""Helpers shared by the tests (plain functions and classes; the conftest.py files hold only
fixtures and hooks, built on these). ``tests/`` is on ``sys.path`` (pytest's ``pythonpath``).

* :mod:`support.databases`: real SQLite files and PostgreSQL databases.
* :mod:`support.cli`: the real command line in a child process.
* :mod:`support.server`: a real ``deconfliction serve`` process on a loopback port.
* :mod:`support.api`: HTTP clients per party with the contract's checks.
* :mod:`support.geo`: geodesy and request bodies; a unique area per test.
* :mod:`support.waiting`: bounded waits.
* :mod:`support.hotline`, :mod:`support.tactical`: the hotline's and the tactical tests' helpers.
"""
