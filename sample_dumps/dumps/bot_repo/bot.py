import time

import ccxt

exchange = ccxt.bybit({
    'apiKey': 'FAKECq2CVl5rjhgxke',
    'secret': 'FAKEdQb1DMB7MaB7hVuLZaL6uKejqUH0wxxL',
    'enableRateLimit': True,
})

SYMBOL = 'BTC/USDT'


def main():
    while True:
        ticker = exchange.fetch_ticker(SYMBOL)
        print(ticker['last'])
        time.sleep(10)


if __name__ == '__main__':
    main()
