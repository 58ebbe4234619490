COPY keys (api_key, api_secret) FROM stdin WITH (FORMAT csv);
boUmDfLH1KGkEQJJ7ytP8iCThUkgZ6RbkUkQXUMM9YOAS5D3TUkdmAM84iMl9wFG,kOcwh8EdxfzkyJnpCf3JmWAdh38cyuvAfqPJ4vaQpt2hcdr4rW19LqahyIducpVT
\.
INSERT INTO keys (api_key, api_secret) VALUES ('MdK21l2xpkWqlv0DvS28VigBbLkyoQ3OxyIthBjYQPfddT0XrjTcB2GyUm6Blkak', 'qMS64S633FGe5gdygog6QGaq5KDGuqch805oxRjb5G1x94M0x8BcHIk9uJsLqLwv');
