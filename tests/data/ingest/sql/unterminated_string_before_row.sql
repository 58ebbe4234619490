CREATE TABLE public.api_keys (id integer, api_key text, api_secret text);
INSERT INTO public.api_keys VALUES
(1, 'JtYsvUb0sHvuX8S1GfoB1zoz9dmqbAMbRUss3KRMQF64b8NjRQnCJaKtneIevIUJ', '9zG8eTazmyPHEd7AECDLHDH5RsuUKK9mQRDFgzKzvnvZK1dvxHgyW9n9QCl1lP7u'),
(2, 'AydWbin7sdpcwObiDpXb50WfSvprrq7CexAkUtr3Q4TesIo9vNppEkXSyl4hh661', 'kaPbp2dG9j7lxZ3MlXNmGFEQQwszNMQaiSJuQhSSYvKzFlmXvFnM2eyyRkaqwk72),
(3, 'lrEy4Tf8kxkPnvWHOKkjfT8a5tZpv5JAsrwKZN8b55thM7mFTrUTZb6PBB587i63', 'c1RfAKX78gQFosIwlXQascB4RmjKfB4izkzU1OVSSVv3GqdvvkDR2ngVQtPGJaAy');
