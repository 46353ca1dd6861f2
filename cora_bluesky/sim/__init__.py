"""A simulated 2-BM tomography beamline: phantom camera, stages, shutters, ring current, PSS IOC.

For demonstrations and tests, never for a real beamline. Importing this package starts nothing.
"""
