"""The same job on AWS: a CloudFormation template for the workflows, workers and
functions; the worker image's entry point; and the reverse direction, binding
definitions written for AWS to a local server.
"""

from montemap.aws.cfn import dump_yaml, load_yaml
from montemap.aws.collect import collect_run, write_run
from montemap.aws.container import ContainerConfigError, worker_arguments
from montemap.aws.mapping import Bound, ResourceMapping, stack_mapping
from montemap.aws.options import AwsError, TemplateOptions
from montemap.aws.resolve import Resolver, aws_definitions, aws_values
from montemap.aws.template import build_template

__all__ = [
    "AwsError",
    "Bound",
    "ContainerConfigError",
    "Resolver",
    "ResourceMapping",
    "TemplateOptions",
    "aws_definitions",
    "aws_values",
    "build_template",
    "collect_run",
    "dump_yaml",
    "load_yaml",
    "stack_mapping",
    "worker_arguments",
    "write_run",
]
