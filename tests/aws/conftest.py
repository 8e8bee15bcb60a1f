"""Fixtures for the AWS tests: the moto S3 server of the storage tests."""

from tests.storage.s3_server import moto_endpoint

__all__ = ["moto_endpoint"]
