import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet announces its own deprecation on import
    import eventlet

eventlet.monkey_patch()  # must come first: nameko containers hang on an unpatched stdlib

pytest_plugins = ["tests.support.fixtures"]
