"""KSQL text to statements: splitting, variables, the LALR grammar (``ksql.lark``) and the syntax tree (``nodes``)."""
