"""A complete FiLot deployment on one machine: the gate's default target (profile ``local``).

``python -m sandbox up|down|status|deploy|fault|heal``. Redis (TLS) and PostgreSQL run as managed
services would; moto is the AWS control plane; an in-process "ECS agent" runs each service's tasks
as local processes from their task definitions, so that ECS, ELB and CloudWatch report the truth.
"""
