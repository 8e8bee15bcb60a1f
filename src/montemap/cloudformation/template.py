"""Loading templates: YAML with CloudFormation's short-form tags, or JSON; the SAM transform.

The YAML/JSON decoder is cfn-lint's (it knows ``!Ref``, ``!Sub``, ``!GetAtt a.b``...);
``Transform: AWS::Serverless-2016-10-31`` is expanded by the SAM translator AWS
publishes (``aws-sam-translator``), so ``AWS::Serverless::Function`` becomes the
``AWS::Lambda::Function`` and ``AWS::IAM::Role`` it stands for.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from montemap.cloudformation import language_extensions
from montemap.cloudformation.errors import TemplateError

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
#: Largest template body accepted (CloudFormation's limit for a template in S3: 1 MB).
MAX_TEMPLATE_BYTES = 1024 * 1024
_SECTIONS = frozenset(
    {
        "AWSTemplateFormatVersion",
        "Description",
        "Metadata",
        "Parameters",
        "Rules",
        "Mappings",
        "Conditions",
        "Transform",
        "Resources",
        "Outputs",
        "Globals",
    }
)

Template = dict[str, Any]
#: The sections whose value is a mapping (each member declared by its name).
_MAPPINGS = ("Parameters", "Mappings", "Conditions", "Outputs", "Rules", "Metadata", "Globals")


def _plain(value: Any) -> Any:
    """cfn-lint's node types as plain dicts, lists and strings.

    A YAML timestamp (``AWSTemplateFormatVersion: 2010-09-09`` unquoted, a date in a tag)
    is the text it was written as, as CloudFormation reads it.
    """
    return json.loads(json.dumps(value, default=str))


def parse(text: str) -> Template:
    """The template in ``text`` (YAML or JSON), checked for the sections CloudFormation knows."""
    if len(text.encode("utf-8")) > MAX_TEMPLATE_BYTES:
        raise TemplateError(f"Template may not exceed {MAX_TEMPLATE_BYTES} bytes in size.")
    from cfnlint.decode import decode_str

    logging.getLogger("cfnlint").setLevel(logging.CRITICAL)
    template, matches = decode_str(text)
    if template is None or matches:
        detail = "; ".join(str(getattr(m, "message", m)) for m in matches[:3])
        raise TemplateError(f"Template format error: {detail or 'not a YAML or JSON template'}")
    if not isinstance(template, dict):
        raise TemplateError("Template format error: the template must be a YAML or JSON mapping")
    result: Template = _plain(template)
    unknown = sorted(set(result) - _SECTIONS)
    if unknown:
        raise TemplateError(
            f"Template format error: Invalid template property or properties [{', '.join(unknown)}]"
        )
    resources = result.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError("Template format error: At least one Resources member must be defined.")
    for section in _MAPPINGS:
        if result.get(section) is not None and not isinstance(result[section], dict):
            raise TemplateError(
                f"Template format error: the {section} section must be a mapping (a JSON object)"
            )
    for name, resource in resources.items():
        if name.startswith(language_extensions.FOR_EACH) and isinstance(resource, list):
            continue  # expanded by the AWS::LanguageExtensions transform
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise TemplateError(
                f"Template format error: [/Resources/{name}] Every Resources object must "
                "contain a Type member."
            )
        _check_attributes(name, resource)
    return result


def _check_attributes(name: str, resource: dict[str, Any]) -> None:
    """``DependsOn`` names resources, ``Condition`` a condition: strings (else refused, never
    a crash later)."""
    depends = resource.get("DependsOn", [])
    listed = [depends] if isinstance(depends, str) else depends
    if not isinstance(listed, list) or not all(isinstance(d, str) for d in listed):
        raise TemplateError(
            f"Template format error: [/Resources/{name}/DependsOn] DependsOn must be a "
            "resource's logical id or a list of them"
        )
    if "Condition" in resource and not isinstance(resource["Condition"], str):
        raise TemplateError(
            f"Template format error: [/Resources/{name}/Condition] Condition must be the name "
            "of a condition"
        )


def transforms(template: Template) -> list[str]:
    value = template.get("Transform")
    if value is None:
        return []
    names = value if isinstance(value, list) else [value]
    return [n if isinstance(n, str) else str(n.get("Name", "")) for n in names]


class _AnyManagedPolicy(dict[str, str]):
    """A managed-policy map that knows every AWS managed policy by its name."""

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __getitem__(self, key: str) -> str:
        return key if key.startswith("arn:") else f"arn:aws:iam::aws:policy/{key}"

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]


def _refuse_macros(value: Any, path: str) -> None:
    """``Fn::Transform`` (a macro such as ``AWS::Include`` run on part of the template)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_macros(item, f"{path}/{index}")
    elif isinstance(value, dict):
        if "Fn::Transform" in value:
            macro = value["Fn::Transform"]
            name = macro.get("Name") if isinstance(macro, dict) else macro
            raise TemplateError(
                f"Transform {name} is not supported here (Fn::Transform at {path}): montemap "
                f"runs only the {language_extensions.NAME} and {SAM_TRANSFORM} transforms; "
                "write what it would insert into the template"
            )
        for key, item in value.items():
            _refuse_macros(item, f"{path}/{key}")


def expand(template: Template, parameters: dict[str, Any], *, pseudo: dict[str, Any]) -> Template:
    """The template with its transforms applied, in the order it lists them."""
    for section in ("Resources", "Outputs", "Conditions", "Mappings"):
        _refuse_macros(template.get(section), section)
    names = transforms(template)
    if not names:
        return template
    known = (language_extensions.NAME, SAM_TRANSFORM)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise TemplateError(
            f"Transform {', '.join(unknown)} is not supported here (only {', '.join(known)})"
        )
    for name in names:
        if name == language_extensions.NAME:
            template = language_extensions.expand(template, parameters, pseudo)
        else:
            template = _sam(template, parameters, pseudo)
    template = dict(template)
    template.pop("Transform", None)
    return template


def _refuse_repository_applications(template: Template) -> None:
    """``AWS::Serverless::Application`` from the Serverless Application Repository: the
    translator would ask AWS for its template; there is no repository here to ask."""
    resources = template.get("Resources")
    found = []
    for name, resource in resources.items() if isinstance(resources, dict) else []:
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Application":
            continue
        location = (resource.get("Properties") or {}).get("Location")
        if isinstance(location, dict) and {"ApplicationId", "SemanticVersion"} <= set(location):
            found.append(
                f"Resource with id [{name}] is invalid. The Serverless Application Repository "
                f"is not available on montemap (ApplicationId {json.dumps(location['ApplicationId'])}"
                "): deploy the application's template as a nested stack instead, with "
                "Location the URL of that template in this server's S3."
            )
    if found:
        raise TemplateError(
            f"Transform {SAM_TRANSFORM} failed with: Invalid Serverless Application "
            f"Specification document. Number of errors found: {len(found)}. {' '.join(found)}"
        )


def _sam(template: Template, parameters: dict[str, Any], pseudo: dict[str, Any]) -> Template:
    """The SAM transform, by the translator AWS publishes."""
    region, account = str(pseudo["AWS::Region"]), str(pseudo["AWS::AccountId"])
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    session = boto3.Session(
        region_name=region, aws_access_key_id="montemap", aws_secret_access_key="montemap"
    )
    _refuse_repository_applications(template)
    policies = _AnyManagedPolicy()
    translator = Translator(policies, Parser(), boto_session=session)
    # the translator accepts only its own transform in the template it is given
    template = {**template, "Transform": SAM_TRANSFORM}
    values = {
        **parameters,
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
    }
    try:
        expanded: Template = translator.translate(
            json.loads(json.dumps(template)), values, get_managed_policy_map=lambda: policies
        )
    except InvalidDocumentException as exc:
        # as AWS words it: the document's message, then each cause's own message
        reasons = " ".join([exc.message, *(cause.message for cause in exc.causes)])
        raise TemplateError(f"Transform {SAM_TRANSFORM} failed with: {reasons}")
    expanded.pop("Transform", None)
    return expanded
