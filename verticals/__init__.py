"""Built-in verticals. Each sub-package exposes ``VERTICAL``; they are found through
the ``verticalkit.verticals`` entry-point group like third-party ones."""
