"""SageMaker: jobs and endpoints that run (`hooks`), AWS's name rules (`names`), and answers in
the shapes botocore models (`shapes`)."""
