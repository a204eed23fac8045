"""Requests checked against botocore's SageMaker model as AWS checks them (`names`): every
pattern of the model compiles (they are Java regular expressions), and a request that breaks a
member's pattern, length, range or enum is refused with AWS's wording, nothing recorded."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from localcloud.services.sagemaker import names
from localcloud.shared.errors import SageMakerValidation


def _patterns() -> set[str]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return {
        pattern
        for name in model.shape_names
        if (pattern := model.shape_for(name).metadata.get("pattern"))
    }


def test_every_pattern_of_the_model_compiles() -> None:
    for pattern in _patterns():
        names.compiled(pattern)  # raises on a Java construct left untranslated


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        # Unicode classes: a tag value in any script, but no comma
        (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "données été 2024", True),
        (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "a,b", False),
        # a quantified end anchor is the end anchor
        (r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,128}", "tag", True),
        # a UTF-16 surrogate range is the supplementary planes
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "ok \U0001f600", True),
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "bell \x07", False),
        # Java's \p{Alnum} is ASCII
        (
            r"arn:[\p{Alnum}\-]+:lambda:[\p{Alnum}\-]+:[0-9]{12}:function:.*",
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            True,
        ),
        (
            r"arn:[\p{Alnum}\-]+:lambda:[\p{Alnum}\-]+:[0-9]{12}:function:.*",
            "arn:awé:lambda:us-east-1:123456789012:function:f",
            False,
        ),
    ],
)
def test_java_patterns_mean_what_they_mean_in_java(pattern: str, value: str, matches: bool) -> None:
    assert pattern in _patterns()
    assert bool(names.compiled(pattern).fullmatch(value)) is matches


def test_violations_are_worded_and_placed_as_aws_words_them() -> None:
    request = {
        "EndpointConfigName": "c",
        "ProductionVariants": [
            {"VariantName": "ok", "ModelName": "m", "InstanceType": "ml.m5.large"},
            {"VariantName": "../../x", "ModelName": "m", "InitialInstanceCount": 0},
        ],
        "Tags": [{"Key": "k", "Value": "a,b"}],
    }
    with pytest.raises(SageMakerValidation) as err:
        names.check_request("CreateEndpointConfig", request)
    assert err.value.message == (
        "3 validation errors detected: "
        "Value '../../x' at 'productionVariants.2.member.variantName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])"
        "{0,62}; "
        "Value '0' at 'productionVariants.2.member.initialInstanceCount' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1; "
        "Value 'a,b' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy "
        r"regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"
    )
    request["ProductionVariants"][1].update(VariantName="v2", InitialInstanceCount=1)
    request["Tags"][0]["Value"] = "b"
    names.check_request("CreateEndpointConfig", request)


def test_a_traversal_variant_name_is_refused_and_nothing_recorded(sagemaker: Any) -> None:
    variant = {"VariantName": "../../x", "ModelName": "m", "InitialInstanceCount": 1}
    with pytest.raises(ClientError) as err:
        sagemaker.create_endpoint_config(
            EndpointConfigName="traversal", ProductionVariants=[variant]
        )
    error = err.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "1 validation error detected: Value '../../x' at "
        "'productionVariants.1.member.variantName' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
    )
    configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
    assert "traversal" not in [c["EndpointConfigName"] for c in configs]


def test_a_refused_action_answers_its_refusal_whatever_the_request(sagemaker: Any) -> None:
    # CreateDomain is refused (501) before its members are checked: the refusal says more.
    with pytest.raises(ClientError) as err:
        sagemaker.create_domain(
            DomainName="../bad",
            AuthMode="IAM",
            DefaultUserSettings={},
            SubnetIds=["s"],
            VpcId="v",
        )
    assert err.value.response["Error"]["Code"] == "NotImplementedException"
