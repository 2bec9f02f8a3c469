"""screenpop's connector kinds, installed as ``screenpop.connectors``: one package per kind.

screenpop finds them only through the ``screenpop.connectors`` entry-point
group; each kind imports only ``screenpop.connector_api``, ``model`` and
``errors``.
"""
