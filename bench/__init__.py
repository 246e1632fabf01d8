"""amistate's benchmarks (issue 7): ``python -m bench`` or ``make bench``.

Every figure is a count or a ratio measured in one run on loopback servers
(moto's server for DynamoDB and SSM, dynalite for the scale run, a small local
fake for Image Builder's ``GetImage``). See docs/performance.md.
"""
